# SPDX-License-Identifier: GPL-3.0-or-later
"""The safety rules, each with its exact message.

A temporary directory stands in for /proc/sys and for the root of the sysctl.d tree where
needed; messages are asserted word for word.
"""
import os

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import procnet
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import keys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import plan as plan_mod
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import procsys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import rules as rules_mod

from .sysctl_env import KERNEL, refused, by_key, rules


def test_bad_names_refused_together(env):
    e = refused(env, {"kernel.panic": 1, "net.ipv4.a..b": 1})
    assert e.message == (
        "2 settings refused: kernel.panic: out of scope: only net.ipv4.*, net.ipv6.*, net.core.* and "
        "net.netfilter.* keys are managed; net.ipv4.a..b: not a valid sysctl key name")


def test_scope_cannot_be_allowed(env):
    e = refused(env, {"kernel.panic": 1}, allow=["scope"])
    assert e.message == "allow: rule scope cannot be allowed"


def test_unknown_allow_rule(env):
    e = refused(env, {"net.ipv4.tcp_fin_timeout": 1}, allow=["nope"])
    assert e.message.startswith("allow: unknown rule 'nope'; known rules: applier_disagree, boot_unknown, bounds, bounds_conflict, fin_timeout_scope, ")


# ---------------------------------------------------------------- ranges

@pytest.mark.parametrize("settings,message", [
    ({"net.ipv4.tcp_tw_reuse": 3}, "net.ipv4.tcp_tw_reuse: value 3 is outside 0..2"),
    ({"net.ipv4.tcp_tw_reuse": -1}, "net.ipv4.tcp_tw_reuse: value -1 is outside 0..2"),
    ({"net.ipv4.tcp_tw_reuse_delay": 0}, "net.ipv4.tcp_tw_reuse_delay: value 0 is outside 1..60000"),
    ({"net.ipv4.tcp_tw_reuse_delay": 60001}, "net.ipv4.tcp_tw_reuse_delay: value 60001 is outside 1..60000"),
    ({"net.ipv4.tcp_syncookies": "yes"}, "net.ipv4.tcp_syncookies: value 'yes' is not an integer"),
    ({"net.ipv4.tcp_keepalive_probes": 256}, "net.ipv4.tcp_keepalive_probes: value 256 is outside 1..255"),
    ({"net.ipv4.tcp_keepalive_probes": 0}, "net.ipv4.tcp_keepalive_probes: value 0 is outside 1..255"),
    ({"net.ipv4.tcp_keepalive_time": 2147484}, "net.ipv4.tcp_keepalive_time: value 2147484 is outside 1..2147483"),
    ({"net.ipv4.tcp_fin_timeout": "08"}, "net.ipv4.tcp_fin_timeout: value '08' is not an integer"),
    ({"net.ipv4.tcp_fin_timeout": "+5"}, "net.ipv4.tcp_fin_timeout: value '+5' is not an integer"),
    ({"net.ipv4.tcp_fin_timeout": ""}, "net.ipv4.tcp_fin_timeout: value is empty; the kernel refuses an empty value"),
    ({"net.ipv4.tcp_fin_timeout": "  "},
     "net.ipv4.tcp_fin_timeout: value is empty; the kernel refuses an empty value"),
    ({"net.core.somaxconn": 0}, "net.core.somaxconn: value 0 is outside 1..2147483647"),
    ({"net.ipv4.tcp_rmem": "4096 131072"},
     "net.ipv4.tcp_rmem: value '4096 131072' must be three integers: min default max"),
    ({"net.ipv4.tcp_rmem": "4096 1024 6291456"},
     "net.ipv4.tcp_rmem: value '4096 1024 6291456' must satisfy 1 <= min <= default <= max"),
    ({"net.ipv4.ip_local_port_range": "40000 30000"},
     "net.ipv4.ip_local_port_range: value '40000 30000' has low 40000 above high 30000"),
    ({"net.ipv4.ip_local_port_range": "0 65535"},
     "net.ipv4.ip_local_port_range: value '0 65535' is outside 1..65535"),
    ({"net.ipv4.ip_local_port_range": "1024 70000"},
     "net.ipv4.ip_local_port_range: value '1024 70000' is outside 1..65535"),
    ({"net.ipv4.ip_local_port_range": "10240"},
     "net.ipv4.ip_local_port_range: value '10240' must be two integers: low high"),
    ({"net.ipv4.ip_local_port_range": "900 65535"},
     "net.ipv4.ip_local_port_range: low port 900 is below net.ipv4.ip_unprivileged_port_start (1024); "
     "the kernel refuses that"),
    ({"net.ipv4.ip_local_port_range": "2000 65535", "net.ipv4.ip_unprivileged_port_start": 4000},
     "net.ipv4.ip_local_port_range: low port 2000 is below net.ipv4.ip_unprivileged_port_start (4000); "
     "the kernel refuses that"),
    ({"net.ipv4.ip_local_reserved_ports": "8080,70000"},
     "net.ipv4.ip_local_reserved_ports: value '8080,70000' must be a comma-separated list of ports and ranges "
     "in 1..65535"),
])
def test_ranges(env, settings, message):
    e = refused(env, settings)
    assert e.message == message
    assert ("range", "error") in rules(e.findings)


def test_range_can_be_allowed(env):
    r = env.plan({"net.ipv4.tcp_tw_reuse": 3}, allow=["range"])
    assert r["findings"][0] == {"rule": "range", "severity": "warning", "key": "net.ipv4.tcp_tw_reuse",
                                "message": "net.ipv4.tcp_tw_reuse: value 3 is outside 0..2 (allowed)"}
    assert [c[0] for c in r["runtime_changes"]] == ["net.ipv4.tcp_tw_reuse"]


def test_unprivileged_start_alone_is_checked_against_the_running_range(env):
    e = refused(env, {"net.ipv4.ip_unprivileged_port_start": 40000})
    assert e.message == ("net.ipv4.ip_unprivileged_port_start: value 40000 is above the low port 32768 of the "
                         "running net.ipv4.ip_local_port_range; the kernel refuses that (set "
                         "net.ipv4.ip_local_port_range too)")


# ---------------------------------------------------------------- port range rules

def test_port_range_refuses_listener(env):
    # 20000 is newly covered (running range 32768-60999): refused.
    e = refused(env, {"net.ipv4.ip_local_port_range": "10240 65535"},
                listeners={8080: 111, 22: 112, 20000: 113},
                owners=lambda inodes: {111: (4242, "nginx", "nginx: master")})
    assert e.message == (
        "net.ipv4.ip_local_port_range: range 10240-65535 contains port 20000 that a local service listens on; "
        "outgoing connections could take it while the service restarts. Choose a range without it or add it to "
        "net.ipv4.ip_local_reserved_ports")


def test_port_range_listener_already_covered_is_a_warning(env):
    # 45123 is inside the running range 32768-60999 already: the change exposes nothing new.
    r = env.plan({"net.ipv4.ip_local_port_range": "32768 60999"}, listeners={45123: 113},
                 owners=lambda inodes: {113: (77, "python3", "python3 -m http.server")})
    assert [f for f in r["findings"] if f["rule"] == "port_range_listener"] == [{
        "rule": "port_range_listener", "severity": "warning", "key": "net.ipv4.ip_local_port_range",
        "message": "net.ipv4.ip_local_port_range: port 45123 (python3, pid 77) that a local service listens on is "
                   "already inside the running range; outgoing connections could take it while the service "
                   "restarts. Add it to net.ipv4.ip_local_reserved_ports"}]


def test_port_range_names_listener_owner(env):
    e = refused(env, {"net.ipv4.ip_local_port_range": "1025 65535"},
                listeners={8080: 111}, owners=lambda inodes: {111: (4242, "nginx", "nginx: master")})
    assert "contains port 8080 (nginx, pid 4242) that" in e.message


def test_port_range_listener_reserved_is_fine(env):
    r = env.plan({"net.ipv4.ip_local_port_range": "10240 65535", "net.ipv4.ip_local_reserved_ports": "40000"},
                 listeners={40000: 1})
    assert rules(r) == [("port_range_reserved", "warning")]
    assert r["findings"][0]["message"] == (
        "net.ipv4.ip_local_port_range: 1 of the ports in 10240-65535 are reserved by "
        "net.ipv4.ip_local_reserved_ports (40000); they will not be used for outgoing connections")


def test_port_range_listener_reserved_at_runtime(env):
    env.set("net/ipv4/ip_local_reserved_ports", "40000-40001")
    r = env.plan({"net.ipv4.ip_local_port_range": "10240 65535"}, listeners={40000: 1})
    assert rules(r) == [("port_range_reserved", "warning")]


def test_port_range_parity(env):
    r = env.plan({"net.ipv4.ip_local_port_range": "10240 65534"})
    assert r["findings"] == [{
        "rule": "port_range_parity", "severity": "warning", "key": "net.ipv4.ip_local_port_range",
        "message": "net.ipv4.ip_local_port_range: 10240 and 65534 have the same parity; the kernel prefers "
                   "different parity (connect() takes ports of low's parity first, bind() the other), so one half "
                   "of the range is under-used"}]


def test_listener_rule_can_be_allowed(env):
    r = env.plan({"net.ipv4.ip_local_port_range": "10240 65535"}, listeners={40000: 1},
                 owners=lambda inodes: {}, allow=["port_range_listener"])
    assert rules(r) == [("port_range_listener", "warning")]


def test_reserved_port_in_octal_does_not_protect_a_listener(env):
    # "020000" reserves 8192, not 20000: the listener on 20000 is still newly covered and refused.
    e = refused(env, {"net.ipv4.ip_local_port_range": "10240 60999", "net.ipv4.ip_local_reserved_ports": "020000"},
                listeners={20000: 113}, owners=lambda inodes: {113: (77, "python3", "python3")})
    assert "contains port 20000 (python3, pid 77) that" in e.message


def test_listening_ports_parses_proc(tmp_path):
    (tmp_path / "net").mkdir()
    (tmp_path / "net/tcp").write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1\n"
        "   1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 12346 1\n")
    (tmp_path / "net/tcp6").write_text(
        "  sl  local_address remote_address st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 "
        "00:00000000 00000000     0        0 999 1\n")
    assert procnet.listening_ports(str(tmp_path)) == {8080: 12345, 22: 999}


# ---------------------------------------------------------------- tcp_tw_recycle

NAT = {"detected": True, "evidence": ["iptables-nft nat rule: -A POSTROUTING -j MASQUERADE"], "hints": [],
       "sources": []}


def test_recycle_removed(env):
    e = refused(env, {"net.ipv4.tcp_tw_recycle": 1})
    assert e.message == (
        "net.ipv4.tcp_tw_recycle: removed in Linux 4.12 and absent on this kernel (6.18.0-test); it broke clients "
        "behind NAT. Use net.ipv4.tcp_tw_reuse=1 for outgoing connections instead")


def test_recycle_refused_with_detected_nat(env):
    env.set("net/ipv4/tcp_tw_recycle", "0")
    e = refused(env, {"net.ipv4.tcp_tw_recycle": 1}, nat_result=NAT)
    assert e.message == (
        "net.ipv4.tcp_tw_recycle: refused because NAT was detected on this host: tcp_tw_recycle drops SYNs from "
        "clients that share an address behind NAT. Use net.ipv4.tcp_tw_reuse=1 for outgoing connections instead")


def test_recycle_refused_with_declared_nat(env):
    env.set("net/ipv4/tcp_tw_recycle", "0")
    e = refused(env, {"net.ipv4.tcp_tw_recycle": 1}, nat="present")
    assert e.message.startswith("net.ipv4.tcp_tw_recycle: refused because NAT is declared (nat: present): ")


def test_recycle_refused_even_on_missing_key_with_nat(env):
    e = refused(env, {"net.ipv4.tcp_tw_recycle": 1}, nat="present", allow=["tw_recycle_removed"])
    assert rules(e.findings) == [("tw_recycle_nat", "error")]


def test_recycle_nat_cannot_be_allowed(env):
    assert refused(env, {"net.ipv4.tcp_tw_recycle": 1}, allow=["tw_recycle_nat"]).message == (
        "allow: rule tw_recycle_nat cannot be allowed")


def test_recycle_without_nat_on_old_kernel_warns(env):
    env.set("net/ipv4/tcp_tw_recycle", "0")
    r = env.plan({"net.ipv4.tcp_tw_recycle": 1}, nat="absent")
    assert rules(r) == [("tw_recycle_no_nat", "warning")]
    assert r["nat"]["declared"] is False


def test_recycle_zero_is_harmless(env):
    env.set("net/ipv4/tcp_tw_recycle", "0")
    r = env.plan({"net.ipv4.tcp_tw_recycle": 0}, nat_result=NAT)
    assert by_key(r)["net.ipv4.tcp_tw_recycle"]["status"] == "drift"  # file not yet written


def test_tw_recycle_bound_on_a_kernel_without_it(env):
    # "recycle off" as a bound behaves as the value 0: the key is gone, nothing to refuse but its absence.
    e = refused(env, {"net.ipv4.tcp_tw_recycle": {"max": 0}}, nat="present")
    assert [f["rule"] for f in e.findings] == ["tw_recycle_removed"]
    e = refused(env, {"net.ipv4.tcp_tw_recycle": {"min": 1}}, nat="present")
    assert [f["rule"] for f in e.findings] == ["tw_recycle_nat"]


# ---------------------------------------------------------------- missing keys

def test_unknown_key_suggests(env):
    e = refused(env, {"net.ipv4.tcp_fin_timout": 15})
    assert e.message == ("net.ipv4.tcp_fin_timout: no such key on this kernel (6.18.0-test); "
                         "did you mean net.ipv4.tcp_fin_timeout?")


def test_unknown_key_without_suggestion(env):
    e = refused(env, {"net.ipv4.zzzzzz": 15})
    assert e.message == "net.ipv4.zzzzzz: no such key on this kernel (6.18.0-test)"


def test_global_key(env):
    e = refused(env, {"net.core.netdev_max_backlog": 5000})
    assert e.message == ("net.core.netdev_max_backlog: not available in this network namespace: it is a global key, "
                         "settable only from the host's initial network namespace")


def test_skip_missing(env):
    r = env.plan({"net.ipv4.tcp_tw_reuse_delay_x": 100, "net.ipv4.tcp_fin_timeout": 15},
                 skip_missing=["net/ipv4/tcp_tw_reuse_delay_x"])
    e = by_key(r)["net.ipv4.tcp_tw_reuse_delay_x"]
    assert e["status"] == "unsupported" and e["runtime"] is None
    assert r["findings"][0] == {
        "rule": "missing_key", "severity": "info", "key": "net.ipv4.tcp_tw_reuse_delay_x",
        "message": "net.ipv4.tcp_tw_reuse_delay_x: not available on this kernel (6.18.0-test); skipped as listed "
                   "in skip_missing"}
    assert "tcp_tw_reuse_delay_x" not in r["new_text"]
    assert [c[0] for c in r["runtime_changes"]] == ["net.ipv4.tcp_fin_timeout"]


def test_unknown_key_allowed_is_skipped(env):
    r = env.plan({"net.ipv4.nope": 1}, allow=["unknown_key"])
    assert by_key(r)["net.ipv4.nope"]["status"] == "unsupported"
    assert "net.ipv4.nope" not in r["new_text"]


def test_read_only_key(env, monkeypatch):
    monkeypatch.setattr(procsys, "writable", lambda parts, proc_root: parts[-1] != "somaxconn")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    e = refused(env, {"net.core.somaxconn": 8192})
    assert e.message == "net.core.somaxconn: read-only here (running value 4096, wanted 8192)"
    r = env.plan({"net.core.somaxconn": 4096})
    assert by_key(r)["net.core.somaxconn"]["status"] == "read_only"
    assert r["runtime_changes"] == []


def test_not_root_says_so(env, monkeypatch):
    monkeypatch.setattr(procsys, "writable", lambda parts, proc_root: False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    e = refused(env, {"net.core.somaxconn": 8192})
    assert e.message == ("net.core.somaxconn: not writable by uid 1000 (running value 4096, wanted 8192); run as "
                         "root (become: true)")


# ---------------------------------------------------------------- other rules

def test_reuse_needs_timestamps(env):
    r = env.plan({"net.ipv4.tcp_tw_reuse": 1, "net.ipv4.tcp_timestamps": 0})
    assert r["findings"] == [{
        "rule": "tw_reuse_timestamps", "severity": "warning", "key": "net.ipv4.tcp_tw_reuse",
        "message": "net.ipv4.tcp_tw_reuse=1 has no effect with net.ipv4.tcp_timestamps=0 (in settings): reuse "
                   "needs timestamps on the old connection"}]
    env.set("net/ipv4/tcp_timestamps", "0")
    r = env.plan({"net.ipv4.tcp_tw_reuse": 1})
    assert r["findings"][0]["message"].endswith("tcp_timestamps=0 (running): reuse needs timestamps on the old "
                                                "connection")


def test_fin_timeout_info(env):
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15})
    assert r["findings"] == [{
        "rule": "fin_timeout_scope", "severity": "info", "key": "net.ipv4.tcp_fin_timeout",
        "message": "net.ipv4.tcp_fin_timeout bounds orphaned FIN_WAIT2 sockets only; it does not shorten TIME_WAIT, "
                   "which is fixed at 60 s in the kernel"}]


def test_stage_check_keys_marks_what_is_skipped(env):
    findings = rules_mod.Findings(("unknown_key",))
    desired = {"net.ipv4.tcp_fin_timeout": "15", "net.ipv4.nope": "1"}
    parts_of = {k: keys.parse_key(k)[1] for k in desired}
    running = plan_mod.read_state(parts_of, env.proc)
    nat = rules_mod.nat_state("auto", {"detected": False})
    req = plan_mod.Request(nat="auto", skip_missing=frozenset(), proc_root=env.proc, kernel_release=KERNEL)
    skipped = rules_mod.check_keys(req, plan_mod.Wanted(desired, parts_of, {}), running, nat, findings)
    assert skipped == {"net.ipv4.nope": "unsupported"}
    assert rules(findings.items) == [("unknown_key", "warning")]
    assert rules_mod.nat_state("present", None) == ({"declared": True}, True)
