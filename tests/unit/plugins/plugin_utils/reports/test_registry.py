# SPDX-License-Identifier: GPL-3.0-or-later
"""The one table of reports and build(): every kind gives the same result shape, its files are the table's
formats, and every renderer takes (summary, records, generated)."""
import datetime
import json

import pytest

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import registry

from .rollout_samples import ROLLOUT, halted_records
from .samples import HOSTS, records

GENERATED = datetime.datetime(2026, 12, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
DIAGNOSED = {"a": {"time_wait": {"total": 1, "outbound": 1, "inbound": 0, "top_remote": []},
                   "close_wait": {"total": 0, "processes": []}, "findings": [],
                   "ephemeral_ports": {"busiest_destination": None}}}
BUILDS = {
    "audit": (records(), HOSTS, {}),
    "diagnose": (DIAGNOSED, ["a", "b"], {}),
    "rollout": (halted_records(), sorted(halted_records()), {"rollout": ROLLOUT}),
}


def test_every_kind_has_its_summary_and_a_json_and_markdown_report():
    assert list(registry.KINDS) == list(registry.REPORTS) == ["audit", "diagnose", "rollout"]
    for kind, formats in registry.REPORTS.items():
        assert {"json", "markdown", "html"} <= set(formats)
        names = [name for name, _render in formats.values()]
        assert len(set(names)) == len(names) and all(name.startswith(kind) for name in names)
    assert registry.file_name("audit", "junit") == "audit-junit.xml"
    assert registry.formats("diagnose") == ["json", "markdown", "html"]


@pytest.mark.parametrize("kind", sorted(BUILDS))
def test_one_result_shape(kind):
    recs, hosts, options = BUILDS[kind]
    out = registry.build(kind, recs, hosts, **options)
    assert sorted(out) == ["files", "gate", "summary", "task_result"]
    assert list(out["files"]) == registry.formats(kind)
    assert all(isinstance(text, str) and text for text in out["files"].values())
    assert json.loads(out["files"]["json"])["kind"] == kind
    assert out["gate"] is None or isinstance(out["gate"], str)


@pytest.mark.parametrize("kind", sorted(BUILDS))
def test_every_renderer_takes_summary_records_generated(kind):
    recs, hosts, options = BUILDS[kind]
    summary = registry.KINDS[kind][0](recs, hosts, **options)
    for fmt, (_name, render) in registry.REPORTS[kind].items():
        assert render(summary, recs, GENERATED) == render(summary, recs, GENERATED), fmt
        if fmt in ("html", "json") and kind != "diagnose":
            assert "2026-12-01T12:00:00" in render(summary, recs, GENERATED)


def test_the_gate_is_the_kind_s():
    assert registry.build("audit", records(), HOSTS)["gate"] == "audit failed: 7 of 8 hosts fail the audit: 3 not compliant, 2 with errors, 2 unreachable"
    assert registry.build("audit", {"ok": records()["ok"]}, ["ok"])["gate"] is None
    assert registry.build("diagnose", {}, ["x"])["gate"] is None
    assert registry.build("rollout", halted_records(), sorted(halted_records()), rollout=ROLLOUT)["gate"].startswith(
        "rollout halted at batch 2: ")


def test_options_belong_to_their_kind():
    with pytest.raises(TypeError):
        registry.build("diagnose", {}, ["x"], baseline={})
