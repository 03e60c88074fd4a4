# SPDX-License-Identifier: GPL-3.0-or-later
"""The demo's table (scripts/demo.sh): each audited profile's keys from audit.json's records, what is wanted, the
running value, the status and the value the host boots with today (the file that sets it; else the kernel's
default with its number and where it was read, or why it is unknown), then the module's findings and the audit's
notes. The at-boot text is the audit reports' own (audit.boot), so the demo and the reports say the same.

Usage: demo_table.py AUDIT_JSON   (the collection importable: ANSIBLE_COLLECTIONS_PATH, as the demo sets it)"""
import json
import os
import sys


def _audit():
    for base in reversed(os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep)):
        if base and base not in sys.path:
            sys.path.insert(0, base)
    from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import audit  # pylint: disable=import-outside-toplevel
    return audit


def table(data, audit=None):
    """The table's lines for DATA (audit.json, parsed)."""
    audit = audit or _audit()
    lines = []
    for rec in data["records"].values():
        for p in rec.get("profiles", []):
            res = p.get("result") or {}
            lines += ["", "Profile %s (applier %s, NAT detected: %s):" % (
                p["profile"], res.get("applier"), (res.get("nat") or {}).get("detected"))]
            lines.append("  %-40s %-14s %-14s %-10s %s" % ("key", "wanted", "running", "status", "at boot today"))
            for e in res.get("settings", []):
                lines.append("  %-40s %-14s %-14s %-10s %s" % (
                    e["key"], audit.want(e), audit.value(e.get("runtime")), e["status"], audit.boot(e)[2]))
            for f in res.get("findings", []):
                lines.append("  [%s] %s" % (f["severity"], f["message"]))
    for h in data.get("hosts", []):
        for n in h.get("notes", []):
            lines.append("  [note] %s: %s" % (h["host"], audit.note_line(n)))
    return lines


def main():
    with open(sys.argv[1]) as f:
        print("\n".join(table(json.load(f))))


if __name__ == "__main__":
    main()
