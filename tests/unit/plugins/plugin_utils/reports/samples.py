# SPDX-License-Identifier: GPL-3.0-or-later
"""What the report tests share: audit records of every verdict, hostile strings, the JUnit XSD check and an
HTML parser that counts script elements. Not a test module."""
import os
from html.parser import HTMLParser

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", ".."))
SCHEMA = os.path.join(ROOT, "docs", "schemas", "audit.schema.json")
# The Apache Ant / Jenkins JUnit schema (windyroad/JUnit-Schema, JUnit.xsd, Apache License 2.0); see
# tests/fixtures/junit/README.md for where to put it.
XSD = os.environ.get("KT_JUNIT_XSD", os.path.join(ROOT, "tests", "fixtures", "junit", "JUnit.xsd"))


PATH = "/etc/sysctl.d/80-kerneltune-web_frontend.conf"


def entry(key, status="ok", runtime="1", desired="1", rd=False, pd=False, by=None, persisted="1", before=None,
          src_before=None, **default):
    """A tcp_sysctl settings entry; default: kernel_default and kernel_default_source when given (results from
    before tcp_sysctl reported them have neither)."""
    e = {"key": key, "desired": desired, "runtime": runtime, "persisted": persisted,
         "source": by or PATH, "persisted_before": before,
         "source_before": src_before, "runtime_drift": rd, "persisted_drift": pd, "overridden_by": by,
         "status": status}
    e.update(default)
    return e


def records():
    """One host per case: compliant; runtime and boot-time drift; a host that never had the profile (no file
    sets its keys: the kernel's default at boot, known for one key, unknown for the other); an override with
    runtime drift on another key; a refused profile; no profile; unreachable (with and without a record)."""
    return {
        "ok": {"profiles": [{"profile": "web_frontend",
                             "result": {"settings": [entry("net.core.somaxconn")], "findings": []}}]},
        "drift": {"profiles": [{"profile": "web_frontend", "result": {"settings": [
            entry("net.core.somaxconn", "drift", runtime="1000", desired="8192", persisted="8192", rd=True,
                  before="8192", src_before=PATH),
            entry("net.ipv4.tcp_fin_timeout", "drift", runtime="30", desired="30", persisted="30", pd=True,
                  before="60", src_before="/etc/sysctl.conf")], "findings": []}}]},
        "fresh": {"profiles": [{"profile": "web_frontend", "result": {"settings": [
            entry("net.core.somaxconn", "drift", runtime="4096", desired="8192", persisted="8192", rd=True, pd=True,
                  kernel_default="4096", kernel_default_source="fresh network namespace"),
            entry("net.ipv4.tcp_tw_reuse", "drift", runtime="2", desired="1", persisted="1", rd=True, pd=True,
                  kernel_default=None, kernel_default_source="unshare: Operation not permitted")],
            "findings": []}}]},
        "over": {"profiles": [{"profile": "web_frontend", "result": {"settings": [
            entry("net.core.somaxconn", "drift", runtime="1000", desired="8192", persisted="8192", rd=True,
                  before="8192", src_before=PATH),
            entry("net.ipv4.tcp_fin_timeout", "overridden", runtime="30", desired="30", persisted="45", pd=True,
                  by="/etc/sysctl.d/99-local.conf", before="45", src_before="/etc/sysctl.d/99-local.conf")],
            "findings": []}}]},
        "refused": {"profiles": [{"profile": "web_frontend", "error": "net.ipv4.zz: no such key", "result": {}}]},
        "lonely": {"profiles": []},
        "down": {"profiles": [{"profile": "web_frontend", "unreachable": True, "error": "ssh: timed out",
                               "result": {}}]},
    }


HOSTS = ["ok", "drift", "fresh", "over", "refused", "lonely", "down", "ghost"]


def validate_junit(xml):
    import xmlschema  # pylint: disable=import-outside-toplevel
    assert os.path.exists(XSD), "JUnit.xsd not at %s (see tests/fixtures/junit/README.md)" % XSD
    xmlschema.XMLSchema(XSD).validate(xml)


HOSTILE = "<script>alert(1)</script>\"'&amp;|*_`[x](y)\x00\x07\x1b\ufffe\nend"


def hostile_records():
    h = HOSTILE
    e = entry("net.core." + h, "drift", runtime=h, desired=h, rd=True, pd=True, before=h, src_before=h)
    o = entry("net.ipv4." + h, "overridden", persisted=h, by=h)
    k = entry("net.ipv6." + h, "drift", runtime=h, desired=h, rd=True, pd=True, kernel_default=h,
              kernel_default_source=h)
    u = entry("net.unix." + h, "drift", runtime=h, desired=h, rd=True, pd=True, kernel_default=None,
              kernel_default_source=h)
    return {"web" + h: {"profiles": [{"profile": "p" + h, "error": h, "result": {
        "settings": [e, o, k, u], "findings": [{"severity": "error", "rule": h, "message": h}]}}]},
        "lonely" + h: {"profiles": []}}


class _Collect(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self)
        self.tags, self.text, self.scripts = [], [], 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.scripts += tag == "script"

    def handle_data(self, data):
        self.text.append(data)
