# SPDX-License-Identifier: GPL-3.0-or-later
"""The boot model of one run: precedence, masking, the two appliers.

A temporary directory stands in for /proc/sys and for the root of the sysctl.d tree where
needed; messages are asserted word for word.
"""

from .sysctl_env import PATH, by_key, rules


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


def test_persisted_is_shown_as_the_kernel_would(env):
    env.conf("/etc/sysctl.d/95-later.conf", "net.ipv4.ip_local_port_range =\t20000   60001\n")
    r = env.plan({"net.ipv4.ip_local_port_range": "10240 65535"})
    e = by_key(r)["net.ipv4.ip_local_port_range"]
    assert e["persisted"] == "20000 60001" and e["overridden_by"] == "/etc/sysctl.d/95-later.conf"
