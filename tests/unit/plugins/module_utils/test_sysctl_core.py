# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_sysctl's library: names, values, rules, rendering, rollback, planning.

A temporary directory stands in for /proc/sys and for the root of the
sysctl.d tree; the same behaviour runs against real kernels in molecule.
Every message is asserted word for word: messages are part of the interface.
"""
import errno
import os

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils import sysctl_core as core

PATH = "/etc/sysctl.d/90-kerneltune-tcp.conf"
KERNEL = "6.18.0-test"

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
        self.root = str(tmp_path / "root")
        os.makedirs(self.root + "/etc/sysctl.d")
        for k, v in DEFAULTS.items():
            self.set(k, v)

    def set(self, key, value):
        p = os.path.join(self.proc, key)
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
        return core.plan(settings, kw.pop("path", PATH), **kw)


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


def refused(env, settings, **kw):
    with pytest.raises(core.SysctlError) as e:
        env.plan(settings, **kw)
    return e.value


def by_key(result):
    return {e["key"]: e for e in result["entries"]}


def rules(result_or_findings):
    items = result_or_findings["findings"] if isinstance(result_or_findings, dict) else result_or_findings
    return [(f["rule"], f["severity"]) for f in items]


# ---------------------------------------------------------------- names

@pytest.mark.parametrize("key,canonical", [
    ("net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_fin_timeout"),
    ("net/ipv4/tcp_fin_timeout", "net.ipv4.tcp_fin_timeout"),
    ("net.core.somaxconn", "net.core.somaxconn"),
    ("net.netfilter.nf_conntrack_max", "net.netfilter.nf_conntrack_max"),
    ("net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.all.disable_ipv6"),
    ("net/ipv4/conf/eth0.100/rp_filter", "net/ipv4/conf/eth0.100/rp_filter"),
])
def test_parse_key_accepts(key, canonical):
    assert core.parse_key(key)[0] == canonical


@pytest.mark.parametrize("key,message", [
    ("net.ipv4..tcp_fin_timeout", "net.ipv4..tcp_fin_timeout: not a valid sysctl key name"),
    ("net/ipv4/../../kernel/panic", "net/ipv4/../../kernel/panic: not a valid sysctl key name"),
    ("net.ipv4.tcp_fin_timeout ", "'net.ipv4.tcp_fin_timeout ': not a valid sysctl key name"),
    ("net.ipv4.tcp fin", "'net.ipv4.tcp fin': not a valid sysctl key name"),
    ("net.ipv4.tcp_*", "net.ipv4.tcp_*: not a valid sysctl key name"),
    ("/net/ipv4/x", "/net/ipv4/x: not a valid sysctl key name"),
    ("", "'': not a valid sysctl key name"),
    ("kernel.panic", "kernel.panic: out of scope: only net.ipv4.*, net.ipv6.*, net.core.* and net.netfilter.* "
                     "keys are managed"),
    ("vm.swappiness", "vm.swappiness: out of scope: only net.ipv4.*, net.ipv6.*, net.core.* and net.netfilter.* "
                      "keys are managed"),
    ("net.ipv4", "net.ipv4: out of scope: only net.ipv4.*, net.ipv6.*, net.core.* and net.netfilter.* "
                 "keys are managed"),
    ("net.unix.max_dgram_qlen", "net.unix.max_dgram_qlen: out of scope: only net.ipv4.*, net.ipv6.*, net.core.* "
                                "and net.netfilter.* keys are managed"),
])
def test_parse_key_refuses(key, message):
    with pytest.raises(ValueError) as e:
        core.parse_key(key)
    assert str(e.value) == message


# ---------------------------------------------------------------- values

@pytest.mark.parametrize("value,text", [
    (15, "15"), ("15", "15"), ([10240, 65535], "10240 65535"), ("10240\t65535", "10240\t65535"),
    (True, "1"), (False, "0"), (None, ""),
])
def test_value_to_text(value, text):
    assert core.value_to_text(value) == text


@pytest.mark.parametrize("key,a,b", [
    ("net.ipv4.ip_local_port_range", "10240\t65535", "10240   65535"),
    ("net.ipv4.tcp_fin_timeout", "015", "13"),
    ("net.ipv4.tcp_fin_timeout", "0x10", "16"),
    ("net.ipv4.tcp_fin_timeout", "0", "0"),
    ("net.ipv4.ip_local_reserved_ports", "8080,8081, 9000", "8080-8081,9000"),
    ("net.ipv4.tcp_congestion_control", " bbr ", "bbr"),
])
def test_normalize_equal(key, a, b):
    assert core.normalize(key, a) == core.normalize(key, b)


@pytest.mark.parametrize("value", ["1\n2", "1\x002", "a=b", "15\r"])
def test_value_characters_refused(env, value):
    e = refused(env, {"net.ipv4.tcp_fin_timeout": value})
    assert e.message == "net.ipv4.tcp_fin_timeout: value %r may not contain newlines, NUL or '='" % value
    assert rules(e.findings) == [("value_chars", "error")]


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
    assert e.message.startswith("allow: unknown rule 'nope'; known rules: applier_disagree, bounds, fin_timeout_scope, ")


def test_same_key_twice(env):
    e = refused(env, {"net.ipv4.tcp_fin_timeout": 1, "net/ipv4/tcp_fin_timeout": 2})
    assert e.message == "net.ipv4.tcp_fin_timeout: given twice (as net/ipv4/tcp_fin_timeout and another spelling)"


def test_settings_required(env):
    assert refused(env, {}).message == "settings: at least one key is required when state=present"


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


def test_lower_unprivileged_start_allows_lower_range(env):
    r = env.plan({"net.ipv4.ip_local_port_range": "900 65001", "net.ipv4.ip_unprivileged_port_start": 800})
    # Lowering: the unprivileged start goes first, then the range.
    assert [c[0] for c in r["runtime_changes"]] == [
        "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_port_range"]


def test_raising_unprivileged_start_writes_range_first(env):
    r = env.plan({"net.ipv4.ip_local_port_range": "5001 65000", "net.ipv4.ip_unprivileged_port_start": 5000})
    assert [c[0] for c in r["runtime_changes"]] == [
        "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start"]


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
    monkeypatch.setattr(core, "writable", lambda parts, proc_root: parts[-1] != "somaxconn")
    monkeypatch.setattr(core.os, "geteuid", lambda: 0)
    e = refused(env, {"net.core.somaxconn": 8192})
    assert e.message == "net.core.somaxconn: read-only here (running value 4096, wanted 8192)"
    r = env.plan({"net.core.somaxconn": 4096})
    assert by_key(r)["net.core.somaxconn"]["status"] == "read_only"
    assert r["runtime_changes"] == []


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


# ---------------------------------------------------------------- file, drift, precedence

def test_render_is_sorted_with_header(env):
    r = env.plan({"net.ipv4.tcp_tw_reuse": 1, "net.core.somaxconn": 8192, "net.ipv4.ip_local_port_range": [10240, 65535]})
    assert r["new_text"] == core.HEADER + (
        "net.core.somaxconn = 8192\n"
        "net.ipv4.ip_local_port_range = 10240 65535\n"
        "net.ipv4.tcp_tw_reuse = 1\n")


def test_fresh_host_reports_drift(env):
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15, "net.core.somaxconn": 4096})
    assert r["file_changed"] is True and r["old_text"] is None
    e = by_key(r)
    assert e["net.ipv4.tcp_fin_timeout"] == {
        "key": "net.ipv4.tcp_fin_timeout", "desired": "15", "runtime": "60", "persisted": "15", "source": PATH,
        "persisted_before": None, "source_before": None, "runtime_drift": True, "persisted_drift": True,
        "overridden_by": None, "status": "drift", "bounds": None}
    # Running value already right but not persisted: boot-time drift only.
    assert e["net.core.somaxconn"]["runtime_drift"] is False
    assert e["net.core.somaxconn"]["persisted_drift"] is True
    assert e["net.core.somaxconn"]["status"] == "drift"
    assert [c[0] for c in r["runtime_changes"]] == ["net.ipv4.tcp_fin_timeout"]


def test_compliant_host(env):
    env.set("net/ipv4/ip_local_port_range", "10240\t65535")
    first = env.plan({"net.ipv4.ip_local_port_range": "10240 65535"})
    env.conf(PATH, first["new_text"])
    r = env.plan({"net.ipv4.ip_local_port_range": [10240, 65535]})
    assert r["file_changed"] is False and r["runtime_changes"] == []
    assert by_key(r)["net.ipv4.ip_local_port_range"]["status"] == "ok"


def test_later_file_overrides(env):
    env.conf("/etc/sysctl.d/99-local.conf", "net.ipv4.tcp_fin_timeout = 30\n")
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15, "net.ipv4.tcp_tw_reuse": 1})
    e = by_key(r)["net.ipv4.tcp_fin_timeout"]
    assert e["status"] == "overridden"
    assert e["overridden_by"] == "/etc/sysctl.d/99-local.conf"
    assert e["persisted"] == "30" and e["source"] == "/etc/sysctl.d/99-local.conf"
    assert ("overridden", "warning") in rules(r)
    msg = [f["message"] for f in r["findings"] if f["rule"] == "overridden"][0]
    assert msg == ("net.ipv4.tcp_fin_timeout: /etc/sysctl.d/99-local.conf sets 30 after "
                   "/etc/sysctl.d/90-kerneltune-tcp.conf (15); it wins at boot, so the running value is left alone")
    # Not fought: no runtime write for the overridden key.
    assert [c[0] for c in r["runtime_changes"]] == ["net.ipv4.tcp_tw_reuse"]


def test_earlier_file_does_not_override(env):
    env.conf("/etc/sysctl.d/10-early.conf", "net.ipv4.tcp_fin_timeout = 30\n")
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15})
    e = by_key(r)["net.ipv4.tcp_fin_timeout"]
    assert e["overridden_by"] is None and e["persisted"] == "15" and e["source"] == PATH


def test_appliers_disagree(env):
    env.conf("/etc/sysctl.conf", "net.ipv4.tcp_fin_timeout = 44\n")
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15}, applier="systemd-sysctl")
    assert by_key(r)["net.ipv4.tcp_fin_timeout"]["status"] == "drift"
    msg = [f["message"] for f in r["findings"] if f["rule"] == "applier_disagree"][0]
    assert msg == ("net.ipv4.tcp_fin_timeout: systemd-sysctl 257 would set 15 (from "
                   "/etc/sysctl.d/90-kerneltune-tcp.conf) but procps 4.0.4 would set 44 (from /etc/sysctl.conf)")
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15}, applier="procps")
    assert by_key(r)["net.ipv4.tcp_fin_timeout"]["overridden_by"] == "/etc/sysctl.conf"


def test_masked_path(env):
    env.conf("/etc/sysctl.d/90-x.conf", "")
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15}, path="/run/sysctl.d/90-x.conf")
    assert ("masked", "warning") in rules(r)
    assert by_key(r)["net.ipv4.tcp_fin_timeout"]["persisted"] is None


def test_not_persistent_path(env):
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15}, path="/opt/x.conf")
    assert [f["message"] for f in r["findings"] if f["rule"] == "not_persistent"] == [
        "/opt/x.conf is not read by systemd-sysctl at boot: these settings will not survive a reboot"]


def test_apply_false_changes_file_only(env):
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15}, apply=False)
    assert r["file_changed"] is True and r["runtime_changes"] == []
    assert by_key(r)["net.ipv4.tcp_fin_timeout"]["runtime_drift"] is True


def test_state_absent(env):
    env.conf(PATH, "net.ipv4.tcp_fin_timeout = 15\n")
    r = env.plan({}, state="absent")
    assert r["file_changed"] is True and r["new_text"] is None
    env2 = env.plan({}, state="absent", path="/etc/sysctl.d/91-none.conf")
    assert env2["file_changed"] is False


# ---------------------------------------------------------------- runtime writes

def test_apply_runtime_writes(env):
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15, "net.ipv4.ip_local_port_range": "10240 65535"})
    core.apply_runtime(r["runtime_changes"], proc_root=env.proc)
    assert env.get("net/ipv4/tcp_fin_timeout") == "15"
    assert env.get("net/ipv4/ip_local_port_range") == "10240 65535"


def test_apply_runtime_rolls_back(env):
    r = env.plan({"net.ipv4.tcp_fin_timeout": 15, "net.ipv4.tcp_keepalive_time": 600,
                  "net.ipv4.tcp_tw_reuse": 1})

    def writer(parts, text):
        if parts[-1] == "tcp_tw_reuse":
            raise OSError(errno.EINVAL, "Invalid argument")
        core.write_value(parts, text, env.proc)

    with pytest.raises(core.SysctlError) as e:
        core.apply_runtime(r["runtime_changes"], writer=writer)
    assert e.value.message == (
        "net.ipv4.tcp_tw_reuse: the kernel refused value '1': Invalid argument; restored "
        "net.ipv4.tcp_fin_timeout, net.ipv4.tcp_keepalive_time; the file was not changed")
    assert env.get("net/ipv4/tcp_fin_timeout") == "60"
    assert env.get("net/ipv4/tcp_keepalive_time") == "7200"


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
    assert core.listening_ports(str(tmp_path)) == {8080: 12345, 22: 999}


def test_persisted_is_shown_as_the_kernel_would(env):
    env.conf("/etc/sysctl.d/95-later.conf", "net.ipv4.ip_local_port_range =\t20000   60001\n")
    r = env.plan({"net.ipv4.ip_local_port_range": "10240 65535"})
    e = by_key(r)["net.ipv4.ip_local_port_range"]
    assert e["persisted"] == "20000 60001" and e["overridden_by"] == "/etc/sysctl.d/95-later.conf"


def test_skip_missing_names_are_validated(env):
    e = refused(env, {"net.ipv4.tcp_fin_timeout": 15}, skip_missing=["kernel.panic"])
    assert e.message == ("skip_missing: kernel.panic: out of scope: only net.ipv4.*, net.ipv6.*, net.core.* and "
                         "net.netfilter.* keys are managed")


# ---------------------------------------------------------------- issue 11: numbers and order

@pytest.mark.parametrize("start,first", [(800, "net.ipv4.ip_unprivileged_port_start"),
                                         (40000, "net.ipv4.ip_local_port_range")])
def test_render_orders_unprivileged_start_for_boot(start, first):
    # At boot both appliers write in file order from the kernel defaults (1024, 32768 60999).
    text = core.render({"net.ipv4.ip_local_port_range": "40000 65001", "net.ipv4.ip_unprivileged_port_start": start,
                        "net.ipv4.tcp_fin_timeout": "15"})
    keys = [line.split(" = ")[0] for line in text.splitlines() if " = " in line and not line.startswith("#")]
    assert keys[keys.index(first) + 1] in ("net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_port_range")
    assert keys.index(first) < keys.index(({"net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_port_range"}
                                           - {first}).pop())


def test_unprivileged_start_alone_is_checked_against_the_running_range(env):
    e = refused(env, {"net.ipv4.ip_unprivileged_port_start": 40000})
    assert e.message == ("net.ipv4.ip_unprivileged_port_start: value 40000 is above the low port 32768 of the "
                         "running net.ipv4.ip_local_port_range; the kernel refuses that (set "
                         "net.ipv4.ip_local_port_range too)")


def test_quoted_octal_is_written_as_the_kernel_reads_it(env):
    r = env.plan({"net.ipv4.tcp_fin_timeout": "015"})
    assert "net.ipv4.tcp_fin_timeout = 13\n" in r["new_text"]
    assert by_key(r)["net.ipv4.tcp_fin_timeout"]["desired"] == "13"


@pytest.mark.parametrize("text,value", [
    ("010", "8"), ("0x10", "16"), ("0X1f", "31"), ("0", "0"), ("-5", "-5"), ("08", None), ("+5", None),
    ("", None), ("abc", None), ("2 3", "2"),
])
def test_kernel_value_base_zero(text, value):
    assert core.kernel_value("net.ipv4.tcp_fin_timeout", text) == value


def test_kernel_value_limits():
    assert core.kernel_value("net.ipv4.tcp_keepalive_probes", "255") == "255"
    assert core.kernel_value("net.ipv4.tcp_keepalive_probes", "256") is None
    assert core.kernel_value("net.ipv4.ip_local_port_range", "020000 0xffff") == "8192 65535"
    assert core.kernel_value("net.ipv4.tcp_congestion_control", "bbr", "cubic") == "bbr"
    assert core.kernel_value("net.ipv4.tcp_ecn", "x", "2") is None


# ---------------------------------------------------------------- operator attacks (review of 2026-12-01)

@pytest.mark.parametrize("text,ports", [
    ("020000", {8192}),            # base 0, as proc_get_long reads it: octal
    ("0x1F90", {8080}),
    ("8080, 010-012", {8080, 8, 9, 10}),
])
def test_reserved_ports_are_read_in_base_0(text, ports):
    assert core.reserved_ports(text) == ports


def test_reserved_port_in_octal_does_not_protect_a_listener(env):
    # "020000" reserves 8192, not 20000: the listener on 20000 is still newly covered and refused.
    e = refused(env, {"net.ipv4.ip_local_port_range": "10240 60999", "net.ipv4.ip_local_reserved_ports": "020000"},
                listeners={20000: 113}, owners=lambda inodes: {113: (77, "python3", "python3")})
    assert "contains port 20000 (python3, pid 77) that" in e.message


@pytest.mark.parametrize("key,value", [
    ("net.ipv4.tcp_congestion_control", "010"),
    ("net.core.rps_default_mask", "010"),
])
def test_string_and_mask_keys_are_not_numbers(key, value):
    assert core.normalize(key, value) == value
    assert core.kernel_value(key, value, runtime="0") == value


@pytest.mark.parametrize("value", ["\uff11\uff15", "15\u00a0", "1\x075"])
def test_non_ascii_values_refused(env, value):
    e = refused(env, {"net.ipv4.tcp_fin_timeout": value})
    assert e.message == "net.ipv4.tcp_fin_timeout: value %r may contain only printable ASCII characters" % value


def _file(root, path, text):
    os.makedirs(os.path.dirname(root + path), exist_ok=True)
    with open(root + path, "w") as f:
        f.write(text)


def test_foreign_file_is_neither_replaced_nor_removed(tmp_path):
    root = str(tmp_path)
    path = "/etc/sysctl.d/99-local.conf"
    _file(root, path, "vm.swappiness = 10\nnet.core.somaxconn = 65535\n")
    with pytest.raises(core.SysctlError) as e:
        core.check_path(path, root=root, info_dir="/nonexistent")
    assert e.value.message == (
        "path: /etc/sysctl.d/99-local.conf exists and was not written by kerneltune.tcp.tcp_sysctl (its first line "
        "is not the module's header); refusing to replace or remove it. Move its settings into settings and delete "
        "it yourself, or choose another path")
    with open(root + path) as f:
        assert f.read() == "vm.swappiness = 10\nnet.core.somaxconn = 65535\n"


def test_our_own_and_empty_files_are_accepted(tmp_path):
    root = str(tmp_path)
    _file(root, "/etc/sysctl.d/90-ours.conf", core.HEADER + "net.core.somaxconn = 4096\n")
    _file(root, "/etc/sysctl.d/91-empty.conf", "")
    assert core.check_path("/etc/sysctl.d/90-ours.conf", root=root, info_dir="/nonexistent") == \
        "/etc/sysctl.d/90-ours.conf"
    assert core.check_path("/etc/sysctl.d/91-empty.conf", root=root, info_dir="/nonexistent") == \
        "/etc/sysctl.d/91-empty.conf"


def test_a_name_that_would_hide_a_distribution_file_is_refused(tmp_path):
    root = str(tmp_path)
    _file(root, "/usr/lib/sysctl.d/99-protect-links.conf", "fs.protected_symlinks = 1\n")
    with pytest.raises(core.SysctlError) as e:
        core.check_path("/etc/sysctl.d/99-protect-links.conf", root=root, info_dir="/nonexistent")
    assert e.value.message == (
        "path: /etc/sysctl.d/99-protect-links.conf has the name of /usr/lib/sysctl.d/99-protect-links.conf, which "
        "the appliers would then skip (they read one file per name, the first of /etc/sysctl.d, /run/sysctl.d, "
        "/usr/local/lib/sysctl.d, /usr/lib/sysctl.d, /lib/sysctl.d); choose another name")
    assert not os.path.exists(root + "/etc/sysctl.d/99-protect-links.conf")


def test_package_owner_lookup_that_runs_out_of_time_refuses(tmp_path):
    info = tmp_path / "info"
    info.mkdir()
    for i in range(3):
        (info / ("pkg%d.list" % i)).write_text("/usr/share/doc/pkg%d\n" % i)
    assert core._dpkg_owner("/etc/sysctl.d/x.conf", str(info), budget=-1) is core.UNKNOWN_OWNER
    (info / "owner.list").write_text("/etc/sysctl.d/x.conf\n")
    assert core._dpkg_owner("/etc/sysctl.d/x.conf", str(info)) == "owner"
    assert core._dpkg_owner("/etc/sysctl.d/y.conf", str(info)) is None


def test_not_root_says_so(env, monkeypatch):
    monkeypatch.setattr(core, "writable", lambda parts, proc_root: False)
    monkeypatch.setattr(core.os, "geteuid", lambda: 1000)
    e = refused(env, {"net.core.somaxconn": 8192})
    assert e.message == ("net.core.somaxconn: not writable by uid 1000 (running value 4096, wanted 8192); run as "
                         "root (become: true)")


# ---------------------------------------------------------------- plan's stages, each on its own

def test_stage_parse_settings_normalises_and_carries_rule_ids():
    findings = core.Findings(())
    desired, parts_of, bounds = core.parse_settings({"net.ipv4.tcp_fin_timeout": "015", "net/ipv4/tcp_tw_reuse": 1,
                                                     "net.ipv4.ip_local_port_range": [10240, 65535]}, "present",
                                                    findings)
    assert bounds == {}
    assert desired == {"net.ipv4.tcp_fin_timeout": "13", "net.ipv4.tcp_tw_reuse": "1",
                       "net.ipv4.ip_local_port_range": "10240 65535"}
    assert parts_of["net.ipv4.tcp_tw_reuse"] == ("net", "ipv4", "tcp_tw_reuse")
    assert core.parse_settings({}, "absent", findings) == ({}, {}, {})
    with pytest.raises(core.SysctlError):
        core.parse_settings({"kernel.panic": 1, "net.ipv4.bad key": 1}, "present", findings)
    assert [(f["rule"], f["key"]) for f in findings.items] == [
        ("scope", "kernel.panic"), ("key_name", "net.ipv4.bad key")]


def test_stage_read_state_reads_the_keys_the_rules_need(env):
    runtime, presence = core.read_state({"net.ipv4.tcp_fin_timeout": ("net", "ipv4", "tcp_fin_timeout"),
                                         "net.ipv4.nope": ("net", "ipv4", "nope")}, env.proc)
    assert (runtime["net.ipv4.tcp_fin_timeout"], presence["net.ipv4.tcp_fin_timeout"]) == ("60", "present")
    assert presence["net.ipv4.nope"] == "missing"
    assert runtime["net.ipv4.ip_local_port_range"] == "32768 60999" and "net.ipv4.ip_local_port_range" not in presence


def test_stage_check_keys_marks_what_is_skipped(env):
    findings = core.Findings(("unknown_key",))
    desired = {"net.ipv4.tcp_fin_timeout": "15", "net.ipv4.nope": "1"}
    parts_of = {k: core.parse_key(k)[1] for k in desired}
    runtime, presence = core.read_state(parts_of, env.proc)
    nat_info, nat_active = core.nat_state("auto", {"detected": False})
    skipped = core.check_keys(desired, parts_of, runtime, presence, set(), "auto", nat_info, nat_active, findings,
                              env.proc, KERNEL)
    assert skipped == {"net.ipv4.nope": "unsupported"}
    assert rules(findings.items) == [("unknown_key", "warning")]
    assert core.nat_state("present", None) == ({"declared": True}, True)


def test_stage_render_file_and_the_old_text(env):
    env.conf(PATH, "old\n")
    assert core.read_file(PATH, env.root) == "old\n"
    assert core.read_file("/etc/sysctl.d/none.conf", env.root) is None
    assert core.render_file({"net.ipv4.tcp_fin_timeout": "0x10"}, {}) == core.HEADER + "net.ipv4.tcp_fin_timeout = 16\n"
    assert core.render_file({"net.ipv4.tcp_fin_timeout": "15"}, {"net.ipv4.tcp_fin_timeout": "read_only"}) == \
        core.HEADER


def test_stage_boot_model_and_plan_keys(env):
    env.conf("/etc/sysctl.d/99-local.conf", "net.ipv4.tcp_fin_timeout = 30\n")
    desired = {"net.ipv4.tcp_fin_timeout": "15", "net.ipv4.tcp_tw_reuse": "1"}
    parts_of = {k: core.parse_key(k)[1] for k in desired}
    runtime, _presence = core.read_state(parts_of, env.proc)
    new = core.render_file(desired, {})
    model = core.BootModel(PATH, parts_of, runtime, "systemd-sysctl", {"systemd-sysctl": (252,),
                                                                       "procps": (4, 0, 2)}, env.root).finish(new)
    assert model.name() == "systemd-sysctl 252"
    assert model.after[("net", "ipv4", "tcp_fin_timeout")][:2] == ("30", "/etc/sysctl.d/99-local.conf")
    findings = core.Findings(())
    entries, changes = core.plan_keys(desired, parts_of, runtime, {}, model, PATH, "present", True, findings)
    assert [(e["key"], e["status"]) for e in entries] == [("net.ipv4.tcp_fin_timeout", "overridden"),
                                                          ("net.ipv4.tcp_tw_reuse", "drift")]
    assert [c[0] for c in changes] == ["net.ipv4.tcp_tw_reuse"]
    assert rules(findings.items) == [("overridden", "warning")]


def test_package_owner_lookup_out_of_time_refuses_the_path(tmp_path, monkeypatch):
    monkeypatch.setattr(core, "_dpkg_owner", lambda path, info_dir: core.UNKNOWN_OWNER)
    with pytest.raises(core.SysctlError) as e:
        core.check_path("/etc/sysctl.d/90-x.conf", root=str(tmp_path), info_dir="/info")
    assert e.value.message == ("path: /etc/sysctl.d/90-x.conf: could not tell within 5 s whether a package owns it "
                               "(/info); refusing to write it")
    assert not os.path.exists(str(tmp_path) + "/etc/sysctl.d/90-x.conf")
