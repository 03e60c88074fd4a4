# SPDX-License-Identifier: GPL-3.0-or-later
"""What every report shares: Markdown escaping."""
from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import common


def test_markdown_line_separators_do_not_split_a_row():
    assert common.md(u"a\u2028b\u2029c\u0085d") == "a b c d"
