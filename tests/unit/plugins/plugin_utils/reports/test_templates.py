# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTML pages of templates/ (audit, diagnose, rollout) in headless Chromium (Debian's chromium and
chromium-driver, through selenium): no console error, the summary counts equal the JSON's, sorting and filtering
work, details expand; on the audit page every count equals the JSON's and each status chip shows exactly its hosts.

Pages: the real audit of the molecule audit scenario (tests/fixtures/audit-real.json: 3 containers and a host
that does not exist) and a synthetic 1,000-host fleet (tests/helpers/fleet_records.py). KT_SCREENSHOTS=1 refreshes docs/images/."""
import json
import os
import shutil
import sys
import tempfile

import pytest

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import audit, common, registry

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
        "return Array.prototype.map.call(document.querySelectorAll('#hosts > tbody > tr'),"
        " function (r) { return [r.cells[0].textContent, r.getAttribute('data-status'), r.hidden,"
        " r.cells[3].textContent]; });")


def _shot(d, name):
    if os.environ.get("KT_SCREENSHOTS") == "1":
        d.save_screenshot(os.path.join(ROOT, "docs", "images", name))


def _counts_on_page(d):
    """Every count the page shows, read from the page (one script: a WebDriver call per cell is slow)."""
    return d.execute_script("""
        function all(q) { return Array.prototype.slice.call(document.querySelectorAll(q)); }
        function text(id) { return document.getElementById(id).textContent; }
        var out = {bars: {}, chips: {}};
        all("#chart g.bar").forEach(function (b) { out.bars[b.getAttribute("data-status")] = +b.getAttribute("data-count"); });
        out.bar_labels = all("#chart g.bar text:last-child").map(function (t) { return t.textContent; });
        all("#chips button").forEach(function (c) { out.chips[c.getAttribute("data-status")] = +c.querySelector(".n").textContent; });
        out.keys = all("#keys tbody tr").map(function (r) { return [r.cells[0].textContent, +r.cells[1].textContent]; });
        out.totals = text("totals");
        out.percent = text("pass-percent");
        return out;""")


def _click_chip(d, status):
    from selenium.webdriver.common.by import By
    d.find_element(By.CSS_SELECTOR, "#chips button[data-status='%s']" % status).click()


def check_audit_page(d, url, data, shot):
    from selenium.webdriver.common.by import By
    d.get(url)
    severe = [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert severe == []
    c = data["counts"]
    page = _counts_on_page(d)
    by_status = dict((s, c[s]) for s in audit.STATUSES)
    assert page["bars"] == by_status and page["bar_labels"] == [str(c[s]) for s in audit.STATUSES]
    assert page["chips"] == dict(by_status, all=c["hosts"])
    assert page["keys"] == [[k["key"], k["hosts"]] for k in data["drifted_keys"][:50]]
    assert page["totals"] == "%d of %d hosts compliant (%s%%): %d not compliant, %d with errors, %d unreachable." % (
        c["compliant"], c["hosts"], audit.percent(data["pass_percent"]), c["not_compliant"], c["error"],
        c["unreachable"])
    assert page["percent"] == "%s%% pass" % audit.percent(data["pass_percent"])
    if c["not_compliant"]:
        r = data["reasons"]
        words = (c["not_compliant"], r["runtime_drift"], r["boot_drift"], r["overridden"],
                 ", %d with drift in another network namespace" % r["namespace_drift"] if "namespace_drift" in r else "")
        assert d.find_element(By.ID, "reasons").text == (
            "Of the %d not compliant hosts: %d with runtime drift, %d with boot-time drift, %d with a key overridden "
            "by a later file%s (a host can have more than one)." % words)
    n = data.get("notes") or {}
    if n.get("notes"):
        assert d.find_element(By.ID, "notes").text == (
            "%d notes on %d hosts (%d records missing, %d shadowed): information only, the verdict does not change "
            "(search \"note\")." % (n["notes"], n["hosts"], n["records_missing"], n["shadowed"]))
    else:
        assert d.find_elements(By.ID, "notes") == []
    ctx = [x.text for x in d.find_elements(By.CSS_SELECTOR, "#context dd")]
    assert ctx == ["kerneltune.tcp " + data["context"]["collection_version"], data["context"]["pattern"],
                   data["context"]["limit"] or "none", ", ".join(data["context"]["profiles"]), data["generated"]]
    rows = _rows(d)
    assert len(rows) == c["hosts"]
    # Failing hosts first; each row's key count is its host's.
    assert [audit.STATUSES.index(r[1]) for r in rows] == sorted(audit.STATUSES.index(r[1]) for r in rows)
    keys = dict((h["host"], len(h["keys"])) for h in data["hosts"])
    assert all(int(r[3]) == keys[r[0]] for r in rows)
    assert d.find_element(By.ID, "shown").text == "%d of %d hosts shown" % (c["hosts"], c["hosts"])
    _shot(d, shot + ".png")
    # Each chip shows exactly its hosts, and says how many.
    hosts_of = dict((s, sorted(h["host"] for h in data["hosts"] if h["status"] == s)) for s in audit.STATUSES)
    for s in audit.STATUSES:
        _click_chip(d, s)
        assert sorted(r[0] for r in _rows(d) if not r[2]) == hosts_of[s]
        assert d.find_element(By.ID, "shown").text == "%d of %d hosts shown" % (c[s], c["hosts"])
    _click_chip(d, "all")
    assert not [r for r in _rows(d) if r[2]]
    # Sort by host, both ways; by keys, numerically.
    host_button = d.find_element(By.CSS_SELECTOR, "#hosts th button[data-col='0']")
    host_button.click()
    names = [r[0] for r in _rows(d)]
    assert names == sorted(names)
    host_button.click()
    assert [r[0] for r in _rows(d)] == sorted(names, reverse=True)
    d.find_element(By.CSS_SELECTOR, "#hosts th button[data-col='3']").click()
    counts = [int(r[3]) for r in _rows(d)]
    assert counts == sorted(counts)
    # Details expand.
    det = d.find_element(By.CSS_SELECTOR, "#hosts > tbody > tr.not_compliant details")
    assert det.get_attribute("open") is None
    det.find_element(By.TAG_NAME, "summary").click()
    assert det.get_attribute("open") == "true"
    d.execute_script("arguments[0].scrollIntoView()", det)
    _shot(d, shot + "-details.png")
    assert [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []


def _search(d, text):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    box = d.find_element(By.ID, "filter")
    if box.get_attribute("value"):
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.BACKSPACE)
    if text:
        box.send_keys(text)
    return sorted(r[0] for r in _rows(d) if not r[2])


def test_real_four_host_audit_page(browser, tmp_path):
    """The molecule audit scenario's real results (3 containers and a host that does not exist), from before
    tcp_sysctl reported the kernel's default: the page says what it knows."""
    from selenium.webdriver.common.by import By
    with open(os.path.join(ROOT, "tests", "fixtures", "audit-real.json")) as f:
        real = json.load(f)
    hosts = [h["host"] for h in real["hosts"]]
    out = registry.build("audit", real["records"], hosts, context={"pattern": "all", "limit": None})
    data = json.loads(out["files"]["json"])
    assert data["counts"] == {"hosts": 4, "compliant": 1, "not_compliant": 2, "error": 0, "unreachable": 1}
    check_audit_page(browser, _page(tmp_path, "audit.html", out["files"]["html"]), data, "audit-real")
    row = [r for r in browser.find_elements(By.CSS_SELECTOR, "#hosts > tbody > tr")
           if r.find_element(By.TAG_NAME, "td").text == "kt-audit-runtime"][0]
    browser.execute_script("arguments[0].open = true", row.find_element(By.TAG_NAME, "details"))
    assert [td.text for td in row.find_elements(By.CSS_SELECTOR, "table.kv tr:nth-child(2) td")] == [
        "net.core.somaxconn", "8192", "1000", "8192 from /etc/sysctl.d/80-kerneltune-web_frontend.conf",
        "runtime drift"]
    assert row.find_elements(By.TAG_NAME, "td")[-1].text == \
        "apply the profile: run the role kerneltune.tcp.web_frontend on this host"
    assert _search(browser, "99-local") == ["kt-audit-override"]


def test_thousand_host_page(browser, tmp_path):
    from selenium.webdriver.common.by import By
    records, hosts = fleet_records.fleet(1000)
    out = registry.build("audit", records, hosts, context={"pattern": "web", "limit": "dc*"})
    data = json.loads(out["files"]["json"])
    assert data["counts"] == {"hosts": 1000, "compliant": 400, "not_compliant": 400, "error": 100,
                              "unreachable": 100}
    size = len(out["files"]["html"].encode("utf-8"))
    assert size < 1000000, size
    check_audit_page(browser, _page(tmp_path, "audit.html", out["files"]["html"]), data, "audit-1000")
    # The search looks in hosts, keys, files and profiles, not in the status words; chips and search combine.
    assert _search(browser, "compliant") == []
    assert _search(browser, "web0003.") == ["web0003.dc0.example.internal"]
    # Notes do not change a host's status; the search finds the hosts that have them.
    assert data["notes"] == {"notes": 100, "hosts": 100, "records_missing": 50, "shadowed": 50}
    noted = sorted(h["host"] for h in data["hosts"] if h["notes"])
    assert len(noted) == 100 and _search(browser, "note") == noted
    shadowed = sorted(h["host"] for h in data["hosts"] if any(x["kind"] == "shadowed" for x in h["notes"]))
    assert len(shadowed) == 50 and _search(browser, "50-vendor.conf") == shadowed
    overridden = sorted(h["host"] for h in data["hosts"] if "overridden" in h["reasons"])
    assert len(overridden) == 100 and _search(browser, "99-local.conf") == overridden
    _click_chip(browser, "error")
    assert _search(browser, "99-local.conf") == []
    assert browser.find_element(By.ID, "shown").text == "0 of 1000 hosts shown"
    _click_chip(browser, "all")
    assert len(_search(browser, "")) == 1000


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
    web3 = [r for r in browser.find_elements(By.CSS_SELECTOR, "#hosts > tbody > tr") if r.get_attribute(
        "data-status") == "restored"][0]
    assert [d.text for d in web3.find_elements(By.CSS_SELECTOR, "td:last-child div")] == \
        data["hosts"][2]["restore"]["lines"] == restored("check")["runtime_changes"] + [
            "net.core.somaxconn: 4096 from recorded", "net.ipv4.tcp_fin_timeout: 45 from /etc/sysctl.d/99-local.conf",
            "net.ipv4.tcp_tw_reuse: left at 2 (no file sets it, no value recorded)"]
    # The hostile name is text, not markup: no script ran, no element came from it.
    assert browser.execute_script("return document.querySelectorAll('script').length") == 0
    assert any(r[0].startswith("x<script>alert(1)</script>") for r in rows)
    _shot(browser, "rollout.png")


def test_namespace_drift_page(browser, tmp_path):
    """kt_audit_namespaces=fail: a host not compliant for its pod and container alone; the counts, the section and
    the host's details agree with the JSON."""
    from selenium.webdriver.common.by import By
    from . import test_namespaces
    out = registry.build("audit", test_namespaces.records(), test_namespaces.HOSTS, namespaces="fail",
                         context={"pattern": "all", "limit": None})
    data = json.loads(out["files"]["json"])
    check_audit_page(browser, _page(tmp_path, "audit.html", out["files"]["html"]), data, "audit-namespaces")
    n = data["namespaces"]
    assert browser.find_element(By.ID, "namespaces-counts").text.startswith(
        "Network namespaces (fail): %d scanned on %d hosts; %d differ (%d keys in all), on %d hosts; %d could not be "
        "read." % (n["namespaces"], n["hosts_scanned"], n["differ"], n["drifts"], n["hosts"], n["unread"]))
    rows = browser.find_elements(By.CSS_SELECTOR, "#namespaces tbody tr")
    assert len(rows) == n["differ"] + n["unread"]
    assert [div.get_attribute("textContent") for div in browser.find_elements(By.CSS_SELECTOR, "#hosts div.ns")] == [
        "namespace: " + x for x in (test_namespaces.POD_LINE, test_namespaces.PODMAN_LINE, test_namespaces.GONE_LINE)]
    assert _search(browser, "namespace") == ["node"]
