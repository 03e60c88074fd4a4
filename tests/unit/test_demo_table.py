# SPDX-License-Identifier: GPL-3.0-or-later
"""scripts/demo_table.py, the demo's table: the value at boot with the kernel default's number and where it was
read (or why it is unknown), the audit's notes; run as the demo runs it, on an audit.json the reports wrote."""
import os
import subprocess
import sys

import ansible_collections
from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import registry
from ansible_collections.kerneltune.tcp.tests.unit.plugins.plugin_utils.reports import notes_samples, samples

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_demo_table_says_the_number_at_boot(tmp_path):
    recs = dict(samples.records(), **notes_samples.records())
    out = registry.build("audit", recs, samples.HOSTS + notes_samples.HOSTS)
    path = tmp_path / "audit.json"
    path.write_text(out["files"]["json"])
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.dirname(list(ansible_collections.__path__)[0]))
    text = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "demo_table.py"), str(path)],
                          stdout=subprocess.PIPE, check=True, env=env, universal_newlines=True).stdout
    lines = [x.rstrip() for x in text.splitlines()]
    assert "  %-40s %-14s %-14s %-10s %s" % (
        "net.core.somaxconn", "8192", "4096", "drift",
        "4096, the kernel default (no file sets it; read in a fresh network namespace)") in lines
    assert "  %-40s %-14s %-14s %-10s %s" % (
        "net.ipv4.tcp_tw_reuse", "1", "2", "drift",
        "the kernel default, value unknown: unshare: Operation not permitted (no file sets it)") in lines
    assert "  %-40s %-14s %-14s %-10s %s" % (
        "net.ipv4.tcp_fin_timeout", "<= 30", "30", "drift",
        "30 from /etc/sysctl.d/80-kerneltune-web_frontend.conf") in lines
    assert not [x for x in lines if "(kernel default)" in x]
    notes = [x for x in lines if x.startswith("  [note] ")]
    assert len(notes) == 3
    assert notes[0].startswith("  [note] noted: web_frontend: records missing: %s; fix: run the role "
                               "kerneltune.tcp.web_frontend on this host once" % notes_samples.MISSING)
