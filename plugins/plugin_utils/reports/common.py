# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every fleet report shares (controller side): the error, escaping for XML and Markdown, the JUnit
document, the JSON text, the Jinja2 environment of the HTML pages (templates/ next to this file) and the clock."""

from __future__ import annotations

import datetime
import json
import os
import re
from xml.etree import ElementTree as ET

SCHEMA_VERSION = 1
# Lines of each section a plain-text summary names one by one; the rest are counted (the reports list them all).
TEXT_HOSTS = 50
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
# The collection's root: plugins/plugin_utils/reports/ is three levels below it.
COLLECTION_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))

# Characters XML 1.0 does not allow (C0 controls but tab, LF, CR; surrogates; U+FFFE, U+FFFF).
XML_FORBIDDEN = re.compile(u"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Markdown: characters with a meaning in inline Markdown or in a table, and HTML.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~])")
_MD_BREAKS = re.compile(u"[\u0085\u2028\u2029]")
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


class ReportError(Exception):
    """A bad input file or record: the message names it."""


def xml_text(value):
    """A string XML 1.0 can carry: forbidden characters removed."""
    return XML_FORBIDDEN.sub("", u"%s" % (value,))


def md(value):
    """A host-derived string made inert in Markdown (and in a table cell)."""
    text = XML_FORBIDDEN.sub("", u"%s" % (value,))
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")
    text = _MD_BREAKS.sub(" ", text)  # line and paragraph separators split a table row too
    return _MD_SPECIAL.sub(r"\\\1", text)


def plain_text(head, sections, report_dir):
    """A report's summary in plain text, for CI logs and AWX job events (the playbooks' Summary task prints it
    line by line, with no markup to escape): the HEAD lines; each of SECTIONS, (lines, what they are), up to
    TEXT_HOSTS lines and then how many more; where the reports are."""
    lines = list(head)
    for items, what in sections:
        lines += items[:TEXT_HOSTS]
        if len(items) > TEXT_HOSTS:
            lines.append("... and %d more %s (every host is in the reports)" % (len(items) - TEXT_HOSTS, what))
    lines.append("reports in %s" % report_dir)
    return "\n".join(lines)


def xml_sub(parent, tag, **attrs):
    """A child element whose attribute values are made XML-safe."""
    return ET.SubElement(parent, tag, dict((k, xml_text(v)) for k, v in attrs.items()))


def xml_document(root):
    """The text of a JUnit file: the declaration, the tree, a final newline."""
    return _XML_DECLARATION + ET.tostring(root, encoding="unicode") + "\n"


def junit_time(timestamp):
    """A JUnit timestamp (no zone, no fraction); now when timestamp is None."""
    return (timestamp or now()).strftime("%Y-%m-%dT%H:%M:%S")


def iso_time(generated):
    """The "generated" time of a report: ISO 8601, now when generated is None."""
    return (generated or now()).isoformat()


def json_text(data):
    """A JSON report: indented, keys sorted, a final newline."""
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def env():
    """The Jinja2 environment of the HTML pages: autoescaped, strict about undefined names."""
    import jinja2  # pylint: disable=import-outside-toplevel
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["clean"] = lambda v: XML_FORBIDDEN.sub("", u"%s" % (v,))
    environment.filters["tojson_compact"] = lambda v: json.dumps(v, sort_keys=True, separators=(",", ":"))
    return environment


def collection_version(root=COLLECTION_ROOT):
    """This collection's version: MANIFEST.json's (an installed collection), else galaxy.yml's (a checkout), else
    "unknown"."""
    try:
        with open(os.path.join(root, "MANIFEST.json")) as f:
            return json.load(f)["collection_info"]["version"]
    except (OSError, IOError, ValueError, KeyError, TypeError):
        pass
    try:
        with open(os.path.join(root, "galaxy.yml")) as f:
            for line in f:
                m = re.match(r"version:\s*['\"]?([^'\"\s#]+)", line)
                if m:
                    return m.group(1)
    except (OSError, IOError):
        pass
    return "unknown"


def now():
    """The time of a report: UTC, whole seconds."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
