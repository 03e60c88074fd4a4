# SPDX-License-Identifier: GPL-3.0-or-later
"""A synthetic fleet of audit records, for the 1,000-host page test and the rendering benchmark.

Deterministic: host i is compliant, drifting, overridden, in error or unreachable by i % 10."""


def _entry(key, status="ok", runtime="1", desired="1", rd=False, pd=False, by=None, persisted="1"):
    return {"key": key, "desired": desired, "runtime": runtime, "persisted": persisted,
            "source": "/etc/sysctl.d/80-kerneltune-web_frontend.conf", "persisted_before": None,
            "source_before": None, "runtime_drift": rd, "persisted_drift": pd, "overridden_by": by,
            "status": status}


KEYS = ["net.core.somaxconn", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_max_syn_backlog",
        "net.core.netdev_max_backlog", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_slow_start_after_idle"]


def fleet(n=1000):
    records, hosts = {}, []
    for i in range(n):
        host = "web%04d.dc%d.example.internal" % (i, i % 3)
        hosts.append(host)
        kind = i % 10
        if kind == 9:
            continue  # unreachable: no record
        settings = [_entry(k) for k in KEYS]
        if kind in (1, 2, 3):
            settings[i % len(KEYS)] = _entry(KEYS[i % len(KEYS)], "drift", runtime="7", desired="8", rd=True,
                                             pd=kind == 3)
        if kind == 4:
            settings[1] = _entry(KEYS[1], "overridden", persisted="45", by="/etc/sysctl.d/99-local.conf")
        prof = {"profile": "web_frontend", "result": {"settings": settings, "findings": []}}
        if kind == 5:
            prof["error"] = "net.ipv4.tcp_tw_reuse: value 3 is outside 0..2"
        records[host] = {"profiles": [prof]}
    return records, hosts
