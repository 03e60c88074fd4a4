# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTML pages of templates/ (audit, diagnose, rollout) in headless Chromium (Debian's chromium and
chromium-driver, through selenium): no console error, the summary counts equal the JSON's, sorting and filtering
work, details expand.

Pages: the real audit of the molecule audit scenario (tests/fixtures/audit-real.json: 3 containers and a host
that does not exist) and a synthetic 1,000-host fleet. KT_SCREENSHOTS=1 refreshes docs/images/."""
import json
import os
import shutil
import sys
import tempfile

import pytest

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import common, registry

from .samples import ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))
import fleet_records  # noqa: E402

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs chromium and chromium-driver "
                                                                  "(scripts/setup.sh test installs them)")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="kt-chromium-")
    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + profile,
              "--window-size=1280,900"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(options=opts, service=Service(DRIVER))
    yield d
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _page(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return "file://" + str(p)


def _rows(d):
    return d.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('#hosts tbody tr'),"
        " function (r) { return [r.cells[0].textContent, r.getAttribute('data-status'), r.hidden,"
        " r.cells[3].textContent]; });")


def _shot(d, name):
    if os.environ.get("KT_SCREENSHOTS") == "1":
        d.save_screenshot(os.path.join(ROOT, "docs", "images", name))


def check_audit_page(d, url, data, shot):
    from selenium.webdriver.common.by import By
    d.get(url)
    severe = [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert severe == []
    bars = dict((b.get_attribute("data-status"), int(b.get_attribute("data-count")))
                for b in d.find_elements(By.CSS_SELECTOR, "#chart g.bar"))
    assert bars == data["status"]
    rows = _rows(d)
    assert len(rows) == data["totals"]["hosts"]
    for s, n in data["status"].items():
        assert sum(1 for r in rows if r[1] == s) == n
    t = data["totals"]
    assert d.find_element(By.ID, "totals").text.startswith("%d of %d hosts compliant; %d unreachable" % (
        t["compliant"], t["hosts"], t["unreachable"]))
    _shot(d, shot + ".png")
    # Sort by host, both ways; by drifting keys, numerically.
    host_button = d.find_element(By.CSS_SELECTOR, "#hosts th button[data-col='0']")
    host_button.click()
    names = [r[0] for r in _rows(d)]
    assert names == sorted(names)
    host_button.click()
    assert [r[0] for r in _rows(d)] == sorted(names, reverse=True)
    d.find_element(By.CSS_SELECTOR, "#hosts th button[data-col='3']").click()
    counts = [int(r[3]) for r in _rows(d)]
    assert counts == sorted(counts)
    # Filter on a status word.
    box = d.find_element(By.ID, "filter")
    box.send_keys("unreachable")
    visible = [r for r in _rows(d) if not r[2]]
    assert len(visible) == data["status"]["unreachable"] and all(r[1] == "unreachable" for r in visible)
    assert d.find_element(By.ID, "shown").text == "%d of %d hosts shown" % (len(visible), t["hosts"])
    box.clear()
    box.send_keys("\b")
    # Details expand.
    det = d.find_element(By.CSS_SELECTOR, "#hosts tbody tr:not([hidden]) details")
    assert det.get_attribute("open") is None
    det.find_element(By.TAG_NAME, "summary").click()
    assert det.get_attribute("open") == "true"
    _shot(d, shot + "-details.png")
    assert [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []


def test_real_three_host_audit_page(browser, tmp_path):
    with open(os.path.join(ROOT, "tests", "fixtures", "audit-real.json")) as f:
        real = json.load(f)
    hosts = [h["host"] for h in real["hosts"]]
    out = registry.build("audit", real["records"], hosts)["files"]
    data = json.loads(out["json"])
    assert data["status"] == {"compliant": 1, "drift": 1, "overridden": 1, "error": 0, "unreachable": 1}
    check_audit_page(browser, _page(tmp_path, "audit.html", out["html"]), data, "audit-real")


def test_thousand_host_page(browser, tmp_path):
    records, hosts = fleet_records.fleet(1000)
    out = registry.build("audit", records, hosts)["files"]
    data = json.loads(out["json"])
    assert data["status"] == {"compliant": 400, "drift": 300, "overridden": 100, "error": 100, "unreachable": 100}
    check_audit_page(browser, _page(tmp_path, "audit.html", out["html"]), data, "audit-1000")


def test_diagnose_page(browser, tmp_path):
    from selenium.webdriver.common.by import By
    finding = {"id": "close_wait_leak", "severity": "warning", "message": "144 CLOSE_WAIT sockets held by app",
               "remedy": "fix the application: it does not close() its sockets"}
    recs = {
        "a-rather-long-host-name-that-must-not-be-cut.example.internal": {
            "time_wait": {"total": 144, "outbound": 144, "inbound": 0,
                          "top_remote": [{"address": "10.0.0.5", "port": 5432, "count": 144}]},
            "close_wait": {"total": 144, "processes": [{"command": "app", "pid": 42, "count": 144,
                                                        "sample": ["127.0.0.1:8080"]}]},
            "findings": [finding],
            "ephemeral_ports": {"busiest_destination": {"address": "10.0.0.5", "port": 5432,
                                                        "local_ports_used": 144, "share": 0.5}}},
        "b": {"time_wait": {"total": 3, "outbound": 3, "inbound": 0, "top_remote": []},
              "close_wait": {"total": 0, "processes": []}, "findings": [],
              "ephemeral_ports": {"busiest_destination": None}},
        "c": {"failed": True, "msg": "tcp_info: netlink refused"},
    }
    out = registry.build("diagnose", recs, list(recs) + ["d"])["files"]
    browser.get(_page(tmp_path, "diagnose.html", out["html"]))
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []
    # Every label and value of every chart is whole and inside its svg.
    clipped = browser.execute_script(
        "var bad = []; document.querySelectorAll('svg').forEach(function (s) {"
        " var w = s.getBoundingClientRect().right; s.querySelectorAll('text').forEach(function (t) {"
        " if (t.getBoundingClientRect().right > w + 0.5) { bad.push(t.textContent); } }); }); return bad;")
    assert clipped == []
    texts = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#tw text")]
    assert "a-rather-long-host-name-that-must-not-be-cut.example.internal" in texts and "144" in texts
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "c: error: tcp_info: netlink refused" in body
    assert "Unreachable: d" in body
    assert "none" in body
    _shot(browser, "diagnose.png")


def test_rollout_page(browser, tmp_path):
    """The halted rollout of the unit tests' records: no console error, one row per host with its result, the
    verdict and the halt as the JSON says, the restore lines whole, a hostile host name inert."""
    from selenium.webdriver.common.by import By
    from .rollout_samples import ROLLOUT, halted_records, restored, started
    from .samples import HOSTILE
    recs = halted_records()
    recs["x" + HOSTILE] = started(3, changed=False)
    out = registry.build("rollout", recs, sorted(recs), rollout=ROLLOUT)["files"]
    data = json.loads(out["json"])
    browser.get(_page(tmp_path, "rollout.html", out["html"]))
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []
    rows = _rows(browser)
    # Names as the page shows them: characters XML 1.0 forbids are removed (the template's clean filter).
    assert [(r[0], r[1]) for r in rows] == [(common.XML_FORBIDDEN.sub("", h["host"]), h["status"])
                                            for h in data["hosts"]]
    assert browser.find_element(By.ID, "verdict").text == "FAIL"
    assert browser.find_element(By.ID, "summary").text == (
        "FAIL: halted at batch 2 of 3: %s." % data["halt_reason"])
    assert "(halted at batch 2)" in browser.find_element(By.ID, "totals").text
    web3 = [r for r in browser.find_elements(By.CSS_SELECTOR, "#hosts tbody tr") if r.get_attribute(
        "data-status") == "restored"][0]
    assert [d.text for d in web3.find_elements(By.CSS_SELECTOR, "td:last-child div")] == \
        data["hosts"][2]["restore"]["lines"] == restored("check")["runtime_changes"] + [
            "net.core.somaxconn: 4096 from recorded", "net.ipv4.tcp_fin_timeout: 45 from /etc/sysctl.d/99-local.conf",
            "net.ipv4.tcp_tw_reuse: left at 2 (no file sets it, no value recorded)"]
    # The hostile name is text, not markup: no script ran, no element came from it.
    assert browser.execute_script("return document.querySelectorAll('script').length") == 0
    assert any(r[0].startswith("x<script>alert(1)</script>") for r in rows)
    _shot(browser, "rollout.png")
