# SPDX-License-Identifier: GPL-3.0-or-later
"""A synthetic fleet of audit records, for the 1,000-host page test and the rendering benchmark.

Deterministic, by i % 10 (with n = 1,000: 400 compliant, 400 not compliant, 100 errors, 100 unreachable):
  0, 6, 7, 8  compliant
  1, 2        runtime drift on one key (the profile's file is there, the running value moved)
  3           never had the profile: every key differs at runtime and at boot, no file sets it, so the value at
              boot is the kernel's default (kernel_default; unknown for one key; absent, as in results from before
              tcp_sysctl reported it, when i % 30 == 13)
  4           a later file overrides one key; when i % 20 == 4 also runtime drift on another key
  5           an error (the profile was refused)
  9           unreachable (no record)
Notes, which do not change the verdict: when i % 20 == 0 another file's line for tcp_fin_timeout loses at boot
(shadowed), when i % 20 == 6 the profile's file has no records (records_missing): 50 hosts each at 1,000."""

PATH = "/etc/sysctl.d/80-kerneltune-web_frontend.conf"
KEYS = ["net.core.somaxconn", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_max_syn_backlog",
        "net.core.netdev_max_backlog", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_slow_start_after_idle"]
WANTED = ["8192", "30", "1", "8192", "16384", "10240 65535", "600", "0"]
DEFAULTS = ["4096", "60", "2", "1024", "1000", "32768 60999", "7200", None]
UNKNOWN = "no fresh network namespace could be made on this host"


def _entry(n, status="ok", runtime=None, rd=False, pd=False, by=None, persisted=None, before=None, src_before=PATH,
           default=None):
    e = {"key": KEYS[n], "desired": WANTED[n], "runtime": runtime or WANTED[n], "persisted": persisted or WANTED[n],
         "source": by or PATH, "persisted_before": before or (WANTED[n] if src_before else None),
         "source_before": src_before, "runtime_drift": rd, "persisted_drift": pd, "overridden_by": by,
         "status": status}
    e.update(default or {"kernel_default": DEFAULTS[n],
                         "kernel_default_source": "fresh network namespace" if DEFAULTS[n] else UNKNOWN})
    return e


def _never_had_the_profile(i):
    out = []
    for n in range(len(KEYS)):
        e = _entry(n, "drift", runtime=DEFAULTS[n] or "1", rd=True, pd=True, src_before=None)
        if i % 30 == 13:
            del e["kernel_default"], e["kernel_default_source"]
        out.append(e)
    return out


def _settings(i, kind):
    settings = [_entry(n) for n in range(len(KEYS))]
    if kind in (1, 2):
        n = i % len(KEYS)
        settings[n] = _entry(n, "drift", runtime=DEFAULTS[n] or "1", rd=True)
    elif kind == 3:
        settings = _never_had_the_profile(i)
    elif kind == 4:
        settings[1] = _entry(1, "overridden", persisted="45", before="45", by="/etc/sysctl.d/99-local.conf",
                             src_before="/etc/sysctl.d/99-local.conf", pd=True)
        if i % 20 == 4:
            settings[0] = _entry(0, "drift", runtime="4096", rd=True)
    return settings


def fleet(n=1000):
    records, hosts = {}, []
    for i in range(n):
        host = "web%04d.dc%d.example.internal" % (i, i % 3)
        hosts.append(host)
        kind = i % 10
        if kind == 9:
            continue  # unreachable: no record
        prof = {"profile": "web_frontend", "result": {"path": PATH, "settings": _settings(i, kind), "findings": []}}
        if i % 20 == 0:
            prof["result"]["settings"][1]["shadowed"] = [{"path": "/usr/lib/sysctl.d/50-vendor.conf", "line": 3,
                                                          "value": "60"}]
        elif i % 20 == 6:
            prof["result"]["findings"].append({"rule": "records_missing", "severity": "info", "key": None, "message": (
                "%s: a managed file with no records in /var/lib/kerneltune/tcp_sysctl.json for net.core.somaxconn "
                "(written by an earlier release, or the state file was moved away): the values before it are "
                "unknown; a run with state=present records these keys as adopted" % PATH)})
        if kind == 5:
            prof["error"] = "net.ipv4.tcp_tw_reuse: value 3 is outside 0..2"
        records[host] = {"profiles": [prof]}
    return records, hosts
