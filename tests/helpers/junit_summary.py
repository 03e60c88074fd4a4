# SPDX-License-Identifier: GPL-3.0-or-later
"""Print a JUnit file as JSON, as a real consumer (junitparser) reads it:
{suite name: {hostname, tests, failures, errors, skipped, cases: {classname/name: result message},
texts: {classname/name: result text, for the cases that failed}}}."""
import json
import sys

import junitparser

out = {}
for s in junitparser.JUnitXml.fromfile(sys.argv[1]):
    out[s.name] = {"hostname": s.hostname, "tests": s.tests, "failures": s.failures, "errors": s.errors,
                   "skipped": s.skipped,
                   "cases": dict(("%s/%s" % (c.classname, c.name), c.result[0].message if c.result else "pass")
                                 for c in s),
                   "texts": dict(("%s/%s" % (c.classname, c.name), c.result[0].text) for c in s if c.result)}
print(json.dumps(out, sort_keys=True))
