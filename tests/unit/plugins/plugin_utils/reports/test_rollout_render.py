# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout's reports: JSON valid against docs/schemas/rollout.schema.json, JUnit valid against the
Jenkins/Ant XSD and read by junitparser, Markdown and HTML with hostile strings made inert."""
import json

import jsonschema
import junitparser
import pytest

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import registry

from .rollout_samples import HALT, HOSTS, REASON, ROLLOUT, SCHEMA, halted_records, restored, started
from .samples import HOSTILE, _Collect, validate_junit


def test_json_is_valid_against_the_schema():
    schema = json.load(open(SCHEMA))
    jsonschema.Draft202012Validator.check_schema(schema)
    for recs, hosts, rollout in ((halted_records(), HOSTS, ROLLOUT),
                                 ({"a": started(1, check_mode=True)}, ["a"], dict(ROLLOUT, halted=False, halt=None,
                                                                                  check_mode=True)),
                                 ({}, ["ghost"], {})):
        data = json.loads(registry.build("rollout", recs, hosts, rollout=rollout)["files"]["json"])
        jsonschema.validate(data, schema)
        assert data["kind"] == "rollout" and data["schema_version"] == 1
    data = json.loads(registry.build("rollout", halted_records(), HOSTS, rollout=ROLLOUT)["files"]["json"])
    assert data["records"]["web3"]["checks"][0].startswith("health_command: ")
    bad = dict(data, hosts=[dict(data["hosts"][0], status="fine")])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_junit_is_valid_and_read_by_junitparser(tmp_path):
    xml = registry.build("rollout", halted_records(), HOSTS, rollout=ROLLOUT)["files"]["junit"]
    validate_junit(xml)
    path = tmp_path / "rollout-junit.xml"
    path.write_text(xml)
    suites = {s.name: s for s in junitparser.JUnitXml.fromfile(str(path))}
    assert sorted(suites) == HOSTS
    cases = {s: {c.name: (c.result[0].message if c.result else "pass") for c in suites[s]} for s in suites}
    assert cases["web1"] == {"rollout": "pass"}
    assert cases["web2"] == {"rollout": "restored: batch 2 failed"}
    assert cases["web3"] == {"rollout": "failed checks: health_command, accept_queue; restored",
                             "check health_command": "health_command", "check accept_queue": "accept_queue"}
    assert cases["web4"] == {"rollout": "not touched: the rollout halted at batch 2"}
    assert (suites["web3"].tests, suites["web3"].failures, suites["web4"].skipped) == (3, 3, 1)


def test_markdown_says_where_it_stopped_and_what_was_restored():
    text = registry.build("rollout", halted_records(), HOSTS, rollout=ROLLOUT)["files"]["markdown"]
    lines = text.splitlines()
    assert lines[0] == "# kerneltune.tcp rollout: web\\_frontend"
    assert lines[2] == ("**FAIL**: halted at batch 2 of 3: 1 of 2 hosts of batch 2 failed (web3: accept\\_queue, "
                        "health\\_command), more than kt\\_rollout\\_max\\_fail\\_percentage (0%).")
    assert lines[4] == ("1 changed and kept, 0 unchanged, 0 would change (check mode), 1 failed a check and restored, "
                        "1 restored because its batch failed, 3 not touched because the rollout stopped, "
                        "0 unreachable, 0 with errors.")
    assert ("| web3 | 2 | failed a check and restored | health\\_command: curl -fsS localhost exited with rc 7: "
            "connection refused<br>accept\\_queue: TcpExtListenOverflows grew from 3 to 9: listen queues overflowed "
            "after the change | net.core.somaxconn: 4096 -\\> 8192 | net.core.somaxconn: 8192 -\\> 4096<br>"
            "net.ipv4.tcp\\_fin\\_timeout: 30 -\\> 45<br>net.core.somaxconn: 4096 from recorded<br>"
            "net.ipv4.tcp\\_fin\\_timeout: 45 from /etc/sysctl.d/99-local.conf<br>net.ipv4.tcp\\_tw\\_reuse: left at 2 "
            "(no file sets it, no value recorded) |") in lines
    assert "| web5 | 3 | not touched because the rollout stopped | - | - | - |" in lines
    assert "| web6 | - | not touched because the rollout stopped | - | - | - |" in lines


def test_hostile_strings_are_inert():
    recs = {"web" + HOSTILE: started(1, checks=["health_command: " + HOSTILE], restore=restored("check"),
                                     runtime_changes=[HOSTILE])}
    out = registry.build("rollout", recs, list(recs), rollout=dict(ROLLOUT, profile=HOSTILE, halted=True,
                                                                   halt=dict(HALT, batch=1,
                                                                             failed=["web" + HOSTILE])))["files"]
    validate_junit(out["junit"])
    p = _Collect()
    p.feed(out["html"])
    assert p.scripts == 0
    assert "<script>alert" not in out["html"] and "\x00" not in out["html"]
    assert out["html"].count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4
    assert "<script>" not in out["markdown"] and "\x00" not in out["markdown"]
    assert len(out["markdown"].splitlines()) == 9


def test_the_page_is_one_file_with_the_verdict():
    html = registry.build("rollout", halted_records(), HOSTS, rollout=ROLLOUT)["files"]["html"]
    assert "<title>kerneltune.tcp rollout: FAIL</title>" in html
    assert "FAIL: halted at batch 2 of 3: " + REASON + "." in html
    assert "default-src 'none'" in html and "http" not in html.replace("http-equiv", "")
    assert html.count('data-status="not_touched"') == 3
