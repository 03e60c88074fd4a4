# SPDX-License-Identifier: GPL-3.0-or-later
"""Rollout records as playbooks/rollout.yml writes them, a halted rollout and its reason. Not a test module."""
import os

from .samples import ROOT

SCHEMA = os.path.join(ROOT, "docs", "schemas", "rollout.schema.json")


def started(batch, changed=True, runtime_changes=None, checks=None, restore=None, check_mode=False, **kw):
    """A record as playbooks/rollout.yml writes it ("Record this host's rollout")."""
    rec = {"batch": batch, "started": True, "check_mode": check_mode,
           "before": {"failed": False, "unreachable": False, "msg": "", "listen_overflows": 0, "close_wait": 0,
                      "error_findings": []},
           "apply": {"skipped": False, "changed": changed, "failed": False, "unreachable": False, "msg": "",
                     "runtime_changes": runtime_changes if runtime_changes is not None else (
                         ["net.core.somaxconn: 4096 -> 8192"] if changed else [])},
           "after": {"listen_overflows": 0, "close_wait": 0},
           "checks": checks or [], "restore": restore}
    for part, values in kw.items():
        rec[part].update(values)
    return rec


def restored(reason):
    return {"reason": reason, "changed": True, "failed": False, "unreachable": False, "msg": "",
            "restore": [{"key": "net.core.somaxconn", "runtime": "8192", "value": "4096", "source": "recorded"},
                        {"key": "net.ipv4.tcp_fin_timeout", "runtime": "30", "value": "45",
                         "source": "/etc/sysctl.d/99-local.conf"},
                        {"key": "net.ipv4.tcp_tw_reuse", "runtime": "2", "value": None, "source": None}],
            "runtime_changes": ["net.core.somaxconn: 8192 -> 4096", "net.ipv4.tcp_fin_timeout: 30 -> 45"]}


HALT = {"batch": 2, "hosts": ["web2", "web3"], "failed": ["web3"], "max_fail_percentage": 0.0}
ROLLOUT = {"profile": "web_frontend", "check_mode": False, "halted": True, "halt": HALT,
           "batches": [1, 2, 3], "max_fail_percentage": 0.0}


def halted_records():
    return {
        "web1": started(1),
        "web2": started(2, restore=restored("batch")),
        "web3": started(2, checks=["health_command: curl -fsS localhost exited with rc 7: connection refused",
                                   "accept_queue: TcpExtListenOverflows grew from 3 to 9: listen queues overflowed "
                                   "after the change"], restore=restored("check")),
        "web4": {"batch": 3, "started": False},
        "web5": {"batch": 3, "started": False},
        "web6": {},
    }


HOSTS = ["web1", "web2", "web3", "web4", "web5", "web6"]
REASON = ("1 of 2 hosts of batch 2 failed (web3: accept_queue, health_command), more than "
          "kt_rollout_max_fail_percentage (0%)")
