# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit records for the notes, the kernel default's number and two profiles' bounds on one key. Not a test module."""
from .samples import PATH, entry

HIGH = "/etc/sysctl.d/80-kerneltune-high_outbound_client.conf"
STATE = "/var/lib/kerneltune/tcp_sysctl.json"
# tcp_sysctl's records_missing finding, word for word (plugins/module_utils/sysctl/task.py, checked on a real
# container in molecule/sysctl_records).
MISSING = ("%s: a managed file with no records in %s for net.core.somaxconn (written by an earlier release, or the "
           "state file was moved away): the values before it are unknown; a run with state=present records these "
           "keys as adopted" % (PATH, STATE))
SHADOWED = [{"path": "/usr/lib/sysctl.d/50-x.conf", "line": 1, "value": "20"}]


def records():
    """noted: compliant, with a file from an earlier release and a shadowed definition; cookie: no file sets
    tcp_syncookies and the kernel's default is the value wanted; two: web_frontend (max 30) and
    high_outbound_client (max 15) on one host, web_frontend's later file still holding 30."""
    fin_ok = entry("net.ipv4.tcp_fin_timeout", runtime="30", desired="30", persisted="30", before="30",
                   src_before=PATH, shadowed=SHADOWED)
    return {
        "noted": {"profiles": [{"profile": "web_frontend", "result": {"path": PATH, "settings": [
            entry("net.core.somaxconn", runtime="8192", desired="8192", persisted="8192", before="8192",
                  src_before=PATH, shadowed=[]), fin_ok],
            "findings": [{"rule": "records_missing", "severity": "info", "key": None, "message": MISSING}]}}]},
        "cookie": {"profiles": [{"profile": "web_frontend", "result": {"path": PATH, "settings": [
            entry("net.ipv4.tcp_syncookies", "drift", runtime="1", desired="1", persisted="1", pd=True,
                  kernel_default="1", kernel_default_source="fresh network namespace", shadowed=[])],
            "findings": []}}]},
        "two": {"profiles": [
            {"profile": "web_frontend", "result": {"path": PATH, "settings": [
                entry("net.ipv4.tcp_fin_timeout", "drift", runtime="30", desired="15", persisted="15", rd=True,
                      pd=True, before="30", src_before=PATH, bounds={"max": 30, "text": "<= 30"},
                      shadowed=[{"path": HIGH, "line": 4, "value": "15"}])],
                "findings": []}},
            {"profile": "high_outbound_client", "result": {"path": HIGH, "settings": [
                entry("net.ipv4.tcp_fin_timeout", "overridden", runtime="30", desired="15", persisted="30",
                      rd=True, pd=True, by=PATH, before="30", src_before=PATH, bounds={"max": 15, "text": "<= 15"},
                      shadowed=[])],
                "findings": []}}]},
    }


HOSTS = ["noted", "cookie", "two"]
